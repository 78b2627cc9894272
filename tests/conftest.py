import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests draw the same examples on every run (a red CI must mean a real regression, not a new random
# draw); explore fresh, more numerous ones with `pytest --hypothesis-profile explore`.
settings.register_profile("default", derandomize=True, max_examples=30)
settings.register_profile("explore", derandomize=False, max_examples=300)
settings.load_profile("default")

torch.set_num_threads(1)

# the reliability_log fixture and --reliability-report (docs/reliability.md)
pytest_plugins = ["tests.reliability.report"]


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
