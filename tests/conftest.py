"""Fixtures shared by the tests; helpers are in common.py (on the path: pytest.ini)."""

import warnings

import pytest

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory):
    """A small synthetic LVIS set (16 train / 6 val images, 24 classes, 128 px), registered as
    tiny_synthetic_train / tiny_synthetic_val."""
    from eql.data import generate_synthetic_lvis, register_synthetic_lvis

    root = str(tmp_path_factory.mktemp("tiny_synthetic"))
    paths = generate_synthetic_lvis(
        root,
        num_train_images=16,
        num_val_images=6,
        num_classes=24,
        image_size=128,
        seed=3,
        progress=False,
    )
    names = register_synthetic_lvis(root, prefix="tiny_synthetic")
    return {"root": root, "names": names, **paths}


def pytest_collection_modifyitems(config, items):
    """The slow tests first (a stable sort: the rest keep their order). In the parallel run of
    `make test` the workers then start on the long tests and end on short ones, instead of one
    worker finishing a minutes-long test while the others wait."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
