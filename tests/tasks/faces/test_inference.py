"""The decisions behind the face verbs, on hand-made embeddings."""

import numpy as np
import pytest

from jaxdl.data.images import save_image
from jaxdl.data.images import list_image_files
from jaxdl.tasks.faces.inference import cluster_embeddings, nearest_identity


def test_nearest_identity_names_the_nearest_or_nobody():
    gallery = np.array([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0]])
    names = ["ann", "bob", "cy"]
    assert nearest_identity(gallery, names, np.array([3.0, 3.0]), 2.0) == ("bob", 1.0)
    # nearest is ann at distance 5: farther than the threshold, so an unknown person
    assert nearest_identity(gallery, names, np.array([0.0, -5.0]), 5.0) == (None, 5.0)
    # one enrolled person is a gallery too
    assert nearest_identity(gallery[:1], names[:1], np.array([0.0, 1.0]), 2.0) == ("ann", 1.0)


def test_image_files_are_sorted_recursive_and_images_only(tmp_path):
    for rel in ("b/2.png", "a.jpg", "b/1.PNG", "notes.txt", "c/d/3.jpeg"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith("txt"):
            path.write_text("x")
        else:
            save_image(path, np.zeros((4, 4, 3)))
    found = [p[len(str(tmp_path)) + 1:] for p in list_image_files(tmp_path)]
    assert found == ["a.jpg", "b/1.PNG", "b/2.png", "c/d/3.jpeg"]


@pytest.mark.parametrize("seed", [0, 1])
def test_cluster_embeddings_separates_far_groups(seed):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = np.concatenate([c + rng.normal(0, 0.1, (5, 2)) for c in centres])
    assignments = cluster_embeddings(points.astype(np.float32), 3, seed=seed)
    groups = assignments.reshape(3, 5)
    assert all(len(set(g)) == 1 for g in groups) and len(set(groups[:, 0])) == 3
