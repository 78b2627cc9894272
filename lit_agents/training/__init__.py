"""What every trained LightningModule shares: the backbone base class, warm-up schedules, gradient clipping
that works under every strategy, and the prompt/response tokenisation with its loss mask."""
