"""The face verification experiment as a user runs it (quick preset)."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from conftest import run_cli

QUICK = ["-m", "experiments.face_verification", "--config",
         "configs/face_verification.py:quick", "--no-progress"]


@pytest.fixture(scope="module")
def face_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    workdir = root / "run"
    run_cli([*QUICK, "--workdir", str(workdir),
                f"--config.data.data_dir={root / 'tfds'}"], check=True)
    return workdir


@pytest.fixture(scope="module")
def face_files(tmp_path_factory):
    """Gallery folder (one sub-folder per person) and probe files of 3 people."""
    from jaxdl.tasks.faces.generator import render_identities
    root = tmp_path_factory.mktemp("files")
    out = render_identities(jax.random.key(5), 3, 3, 32)
    probes = []
    for n, (img, person) in enumerate(zip(np.asarray(out["image"]),
                                          np.asarray(out["identity"]))):
        if n % 3 == 0:
            path = root / "gallery" / f"person{person}" / f"{n}.png"
        else:
            path = root / "probes" / f"p{person}_{n}.png"
            probes.append(str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)
    (root / "probes" / "broken.png").write_bytes(b"not a png")
    return root, probes


def test_results_have_the_documented_keys(face_run):
    r = json.loads((face_run / "results.json").read_text())
    assert set(r["verification"]) >= {"accuracy", "accuracy_std", "auc", "tar_at_far_1e-3",
                                      "threshold"}
    assert set(r["identification"]) >= {"top1", "top5", "open_set_rejection"}
    assert set(r["clustering"]) >= {"nmi", "ari", "purity"}
    assert set(r["raw_pixel_baseline"]) >= {"verification_accuracy", "top1", "nmi"}
    # The same test people in greyscale, scored the same way.
    grey = r["test_greyscale"]
    assert set(grey["verification"]) == set(r["verification"])
    assert set(grey["identification"]) == set(r["identification"])
    assert set(grey["clustering"]) == set(r["clustering"])
    assert set(grey["raw_pixel_baseline"]) == {"verification_accuracy", "top1", "auc"}
    assert all(0.0 <= v <= 1.0 for v in (grey["verification"]["accuracy"],
                                         grey["identification"]["top1"],
                                         grey["clustering"]["nmi"]))
    assert set(r["train"]) >= {"steps", "seconds", "examples_per_second", "final_loss",
                               "params_sha256"}
    assert r["train"]["steps"] == 16 and r["config"]["loss"]["mining"] == "batch_all"
    assert r["data"]["test_people"] == 30 and r["data"]["test_images"] == 120
    rates = [*(r["verification"][k] for k in ("accuracy", "auc", "tar_at_far_1e-3")),
             *r["identification"].values(), r["clustering"]["nmi"],
             r["clustering"]["purity"]]
    assert all(0.0 <= v <= 1.0 for v in rates)
    assert -1.0 <= r["clustering"]["ari"] <= 1.0
    assert 0.0 <= r["verification"]["threshold"] <= 2.0  # L2 between unit vectors
    for name in ("learning_curves", "roc_curve", "distance_histograms", "embeddings_pca",
                 "retrieval", "sample_faces"):
        with Image.open(face_run / "plots" / f"{name}.png") as img:
            assert img.size[0] > 200


def test_verify_identify_cluster(face_run, face_files):
    root, probes = face_files
    # The verbs' default: the threshold calibrated on validation people for eval.target_far.
    threshold = json.loads((face_run / "results.json").read_text()
                           )["thresholds"]["far_calibrated"]
    out = run_cli(["-m", "experiments.face_verification", "verify", "--workdir",
                      str(face_run), probes[0], probes[1]], check=True).stdout
    line = json.loads(out.strip().splitlines()[-1])
    assert set(line) == {"distance", "same", "threshold", "threshold_name"}
    assert line["threshold_name"] == "far_calibrated"
    assert line["threshold"] == pytest.approx(threshold)
    assert line["same"] == (line["distance"] < threshold) and 0 <= line["distance"] <= 2
    broken = str(root / "probes" / "broken.png")
    out = run_cli(["-m", "experiments.face_verification", "identify", "--workdir",
                      str(face_run), "--gallery", str(root / "gallery"), *probes, broken],
                     check=True).stdout
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    assert [l["path"] for l in lines] == [broken, *probes]
    assert "error" in lines[0]
    for l in lines[1:]:
        assert l["identity"] in (None, "person0", "person1", "person2")
        assert (l["identity"] is None) == (l["distance"] >= threshold)
        assert (l["threshold"], l["threshold_name"]) == (threshold, "far_calibrated")
    out = run_cli(["-m", "experiments.face_verification", "cluster", "--workdir",
                      str(face_run), str(root / "probes"), "--k", "3"], check=True).stdout
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    clustered = [l for l in lines if "cluster" in l]
    assert len(clustered) == len(probes) and {l["cluster"] for l in clustered} <= {0, 1, 2}


def test_identify_and_cluster_read_folders_of_pgm_files(face_run, face_files, tmp_path):
    """Greyscale PGM files (8- and 16-bit) as gallery, probe folder and cluster folder;
    a file Pillow cannot read is reported by name, the others are answered."""
    root, probes = face_files
    gallery = tmp_path / "gallery"
    for png in sorted((root / "gallery").rglob("*.png")):
        (gallery / png.parent.name).mkdir(parents=True, exist_ok=True)
        Image.open(png).convert("L").save(gallery / png.parent.name / f"{png.stem}.pgm")
    folder = tmp_path / "probes"
    folder.mkdir()
    for n, png in enumerate(probes):
        grey = np.asarray(Image.open(png).convert("L"))
        if n % 2:   # 16-bit PGM (maxval 65535)
            (folder / f"{Path(png).stem}.pgm").write_bytes(
                b"P5\n32 32\n65535\n" + (grey.astype(">u2") * 257).tobytes())
        else:
            Image.fromarray(grey).save(folder / f"{Path(png).stem}.pgm")
    (folder / "zz_broken.pgm").write_bytes(b"P5\n32 32\n255\n")  # header, no pixels
    expected = sorted(str(p) for p in folder.glob("p*.pgm"))
    out = run_cli(["-m", "experiments.face_verification", "identify", "--workdir",
                   str(face_run), "--gallery", str(gallery), str(folder)], check=True).stdout
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    assert lines[0]["path"].endswith("zz_broken.pgm") and "zz_broken.pgm" in lines[0]["error"]
    assert [l["path"] for l in lines[1:]] == expected
    assert all(l["identity"] in (None, "person0", "person1", "person2") for l in lines[1:])
    out = run_cli(["-m", "experiments.face_verification", "cluster", "--workdir",
                   str(face_run), str(folder), "--k", "3"], check=True).stdout
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    assert sorted(l["path"] for l in lines if "cluster" in l) == expected
    assert [l["path"] for l in lines if "error" in l] == [str(folder / "zz_broken.pgm")]


def test_generated_splits_share_no_person():
    from jaxdl.tasks.faces.generator import identity_key, identity_params
    from jaxdl.data.generated import SPLIT_INDEX
    base = jax.random.key(0)
    params = {s: [identity_params(identity_key(jax.random.fold_in(base, i), n))
                  for n in range(20)] for s, i in SPLIT_INDEX.items()}
    flat = {s: {np.concatenate([np.ravel(np.asarray(v)) for v in jax.tree.leaves(p)]
                               ).tobytes() for p in ps} for s, ps in params.items()}
    assert len(flat["train"]) == 20  # 20 different people
    assert not flat["train"] & flat["test"] and not flat["train"] & flat["validation"]
    assert not flat["validation"] & flat["test"]


def test_folder_people_are_dealt_into_disjoint_splits(face_files, tmp_path):
    import ml_collections
    from jaxdl.tasks.faces.sources import load_identity_images
    root, _ = face_files
    people = tmp_path / "people"
    src = np.asarray(Image.open(next((root / "gallery").rglob("*.png"))))
    for p in range(12):
        for j in range(3):
            d = people / f"name{p:02d}"
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.roll(src, p + j, axis=1)).save(d / f"{j}.png")
    cfg = ml_collections.ConfigDict(dict(source="folder", folder=str(people), image_size=32,
                                         validation_fraction=0.2, test_fraction=0.25))
    data = load_identity_images(cfg, seed=0)
    sets = {s: set(data.labels[s].tolist()) for s in ("train", "validation", "test")}
    assert sum(len(v) for v in sets.values()) == 12
    assert not sets["train"] & sets["test"] and not sets["train"] & sets["validation"]
    assert not sets["validation"] & sets["test"]
    assert {int(data.test[i]["identity"]) for i in range(len(data.test))} == sets["test"]


def test_flip_averaged_embedding_is_mirror_invariant():
    """With flip averaging a face and its mirror image get the same unit embedding;
    without it they do not (the encoder is not symmetric by construction)."""
    from experiments.face_verification import create_state
    from jaxdl.tasks.faces.inference import encode_step
    from jaxdl.config import load_config
    config = load_config("configs/face_verification.py:quick")
    state = create_state(config, jax.random.key(0), 1)
    x = jax.random.uniform(jax.random.key(1), (3, 32, 32, 3))
    mirror = x[:, :, ::-1, :]
    both = [encode_step(state, {"inputs": v}, flip_average=True) for v in (x, mirror)]
    np.testing.assert_allclose(both[0], both[1], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(both[0], axis=1), 1.0, atol=1e-6)
    plain = [encode_step(state, {"inputs": v}) for v in (x, mirror)]
    assert np.abs(np.asarray(plain[0]) - np.asarray(plain[1])).max() > 1e-3


def test_export_runs_with_jax_and_numpy_alone(face_run, tmp_path):
    from conftest import run_export_alone
    from experiments import face_verification
    from jaxdl.tasks.faces.inference import encoder
    out = tmp_path / "export"
    run_cli(["-m", "experiments.face_verification", "export", "--workdir", str(face_run),
             "--out", str(out)], check=True)
    signature = json.loads((out / "signature.json").read_text())
    assert signature["platforms"] == ["cpu", "cuda", "tpu"]
    config, state, transform, threshold = face_verification.load_encoder(face_run)
    assert (signature["threshold_name"], signature["threshold"]) == threshold
    assert threshold.name == "far_calibrated"
    images = np.random.default_rng(4).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    alone = run_export_alone(out, [images], tmp_path)
    x = transform({"image": images, "identity": 0})["inputs"]
    want = np.asarray(encoder(config)(state, {"inputs": x}))
    np.testing.assert_allclose(alone["embeddings"], want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(alone["embeddings"], axis=1), 1.0, atol=1e-5)


def test_thresholds_calibrated_on_validation_people(face_run):
    """results.json: the FAR-calibrated threshold from all pairs of the validation
    images (20 people x 4), the test people at it and at the accuracy threshold, and
    clustering without k."""
    r = json.loads((face_run / "results.json").read_text())
    t = r["thresholds"]
    assert t["target_far"] == 1e-3 and t["accuracy_optimal"] == r["verification"]["threshold"]
    # 80 validation images: 20 x C(4, 2) = 120 matched pairs of C(80, 2) = 3160.
    assert (t["validation_matched_pairs"], t["validation_mismatched_pairs"]) == (120, 3040)
    assert t["validation_far"] <= 1e-3 and 0 <= t["validation_tar"] <= 1
    assert 0 < t["far_calibrated"] <= 2 and 0 < t["accuracy_optimal_validation"] <= 2
    for key, threshold in (("test_at_target_far", t["far_calibrated"]),
                           ("test_at_accuracy_threshold", t["accuracy_optimal"])):
        at = r[key]
        assert at["threshold"] == threshold
        # 120 test images: 30 x C(4, 2) = 180 matched pairs of C(120, 2) = 7140.
        assert (at["matched_pairs"], at["mismatched_pairs"]) == (180, 6960)
        assert all(0 <= at[k] <= 1 for k in ("tar", "far", "open_set_rejection",
                                             "known_rejection", "known_identified"))
    # At the accuracy threshold, the open-set numbers are the identification block's.
    acc = r["test_at_accuracy_threshold"]
    assert acc["open_set_rejection"] == pytest.approx(r["identification"]["open_set_rejection"])
    assert acc["known_rejection"] == pytest.approx(r["identification"]["known_rejection"])
    # A stricter threshold rejects at least as many strangers and known people.
    far = r["test_at_target_far"]
    if t["far_calibrated"] <= t["accuracy_optimal"]:
        assert far["open_set_rejection"] >= acc["open_set_rejection"]
        assert far["far"] <= acc["far"] and far["tar"] <= acc["tar"]
    c = r["clustering_without_k"]
    assert c["true_people"] == 30 and c["people_found"] >= 1 and c["linkage"] == "complete"
    assert c["threshold"] == t["accuracy_optimal_validation"]
    assert 0 <= c["nmi"] <= 1 and -1 <= c["ari"] <= 1


def test_threshold_choices_and_older_runs(face_run, face_files, tmp_path, capsys):
    import shutil
    from experiments import face_verification as fv
    from jaxdl.errors import UserError
    root, probes = face_files
    r = json.loads((face_run / "results.json").read_text())

    def verify(*flags, workdir=face_run):
        assert fv.main(["verify", "--workdir", str(workdir), probes[0], probes[1],
                        *flags]) == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    assert verify("--far")["threshold"] == r["thresholds"]["far_calibrated"]
    line = verify("--accuracy-threshold")
    assert (line["threshold_name"], line["threshold"]) == (
        "accuracy_optimal", r["verification"]["threshold"])
    line = verify("--threshold", "0.5")
    assert (line["threshold_name"], line["threshold"]) == ("explicit", 0.5)
    assert line["same"] == (line["distance"] < 0.5)
    with pytest.raises(UserError, match="finite number > 0"):
        verify("--threshold", "-1")
    # A run whose results.json predates the thresholds block.
    old = tmp_path / "old"
    shutil.copytree(face_run, old)
    del r["thresholds"]
    (old / "results.json").write_text(json.dumps(r))
    line = verify(workdir=old)
    assert (line["threshold_name"], line["threshold"]) == (
        "accuracy_optimal", r["verification"]["threshold"])
    assert fv.main(["verify", "--workdir", str(old), probes[0], probes[1]]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning:") and "thresholds" in err[0]
    with pytest.raises(UserError, match="no FAR-calibrated threshold") as e:
        verify("--far", workdir=old)
    assert "\n" not in str(e.value)
    # cluster: --k must be positive; without --k, agglomerative with a summary line.
    with pytest.raises(UserError, match="at least 1"):
        fv.main(["cluster", "--workdir", str(face_run), str(root / "probes"), "--k", "0"])
    assert fv.main(["cluster", "--workdir", str(face_run), str(root / "probes")]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    clustered, summary = [l for l in lines if "cluster" in l], lines[-1]
    assert len(clustered) == len(probes) and summary["images"] == len(probes)
    assert summary["people_found"] == len({l["cluster"] for l in clustered})
    assert {l["cluster"] for l in clustered} == set(range(summary["people_found"]))
    assert summary["threshold_name"] == "accuracy_optimal_validation"
    assert summary["threshold"] == json.loads((face_run / "results.json").read_text()
                                              )["thresholds"]["accuracy_optimal_validation"]
    # A threshold of 3 (> 2: unit embeddings) puts everyone in one cluster.
    assert fv.main(["cluster", "--workdir", str(face_run), str(root / "probes"),
                    "--threshold", "3"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["people_found"] == 1


def test_embed_round_trip(face_run, face_files, tmp_path, capsys):
    from experiments import face_verification as fv
    from jaxdl.data.images import expand_image_paths as image_paths
    from jaxdl.tasks.faces.inference import embed_files
    root, probes = face_files
    prefix = tmp_path / "out" / "emb"
    assert fv.main(["embed", "--workdir", str(face_run), str(root / "probes"),
                    probes[0], "--out", str(prefix)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    matrix = np.load(f"{prefix}.npy")
    index = [json.loads(l) for l in Path(f"{prefix}.jsonl").read_text().splitlines()]
    files = image_paths([root / "probes", probes[0]])
    assert [l["path"] for l in index] == files   # one line per image, in input order
    bad = [l for l in index if "error" in l]
    assert [l["path"] for l in bad] == [str(root / "probes" / "broken.png")]
    assert all("index" not in l for l in bad)
    good = [l for l in index if "error" not in l]
    assert [l["index"] for l in good] == list(range(len(good))) == list(range(len(matrix)))
    assert matrix.dtype == np.float32 and summary["rows"] == len(matrix) == len(probes) + 1
    assert summary["errors"] == 1 and summary["dim"] == matrix.shape[1] == 32
    config, state, transform, _ = fv.load_encoder(face_run)
    want, paths, _ = embed_files(config, state, transform, [l["path"] for l in good])
    assert paths == [l["path"] for l in good]
    np.testing.assert_allclose(matrix, want, atol=1e-6)
