"""Pure loss functions, one file per method family, each unit-tested."""
