"""Word banks from real recordings (wav folders, TFDS speech_commands) and the
trigger-word clips prepared as a TFDS dataset."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxdl.tasks.trigger_word import sources as tws
from jaxdl.data.audio_files import write_wav
from jaxdl.data.sources import DataError, DatasetNotPreparedError

RATE = 8000
NUM_SAMPLES = 2 * RATE

needs_espeak = pytest.mark.skipif(importlib.util.find_spec("espeakng_loader") is None,
                                  reason="espeakng-loader is not installed")


# -- folder_bank ------------------------------------------------------------------------
def _word(rng, seconds, rate=RATE):
    """A sine burst padded with silence on both sides."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    tone = 0.5 * np.sin(2 * np.pi * rng.uniform(200, 800) * t) * np.hanning(n)
    pad = np.zeros(int(0.1 * rate))
    return np.concatenate([pad, tone, pad])


def _write_folders(root: Path, n_pos=12, n_neg=12, n_bg=6):
    rng = np.random.default_rng(0)
    for i in range(n_pos):
        write_wav(root / "pos" / f"spk{i % 3}" / f"take{i}.wav",
                  _word(rng, rng.uniform(0.2, 0.8)), RATE)
    for i in range(n_neg):
        write_wav(root / "neg" / f"word{i}.wav", _word(rng, rng.uniform(0.2, 0.8)), RATE)
    for i in range(n_bg):
        write_wav(root / "bg" / f"noise{i}.wav",
                  0.1 * rng.standard_normal(int(rng.uniform(0.5, 3.0) * RATE)), RATE)
    # one stereo 44.1 kHz positive and one corrupt negative
    stereo = np.stack([_word(rng, 0.5, 44100), 0.5 * _word(rng, 0.5, 44100)], axis=1)
    write_wav(root / "pos" / "stereo.wav", stereo, 44100)
    (root / "neg" / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")


def _bank(root: Path, split: str, seed=3):
    return tws.folder_bank(split, positives=str(root / "pos"), negatives=str(root / "neg"),
                           backgrounds=str(root / "bg"), trigger="activate",
                           sample_rate=RATE, num_samples=NUM_SAMPLES, seed=seed,
                           fractions=(0.5, 0.25, 0.25))


def test_folder_bank_splits_are_disjoint_stable_and_mono(tmp_path):
    _write_folders(tmp_path)
    banks, skipped = {}, []
    for split in ("train", "validation", "test"):
        banks[split], s = _bank(tmp_path, split)
        skipped += s
    speakers = {split: set(b.speakers) for split, b in banks.items()}
    assert not speakers["train"] & speakers["validation"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["validation"] & speakers["test"]
    n_files = 13 + 12  # readable words
    assert sum(len(s) for s in speakers.values()) == n_files
    assert len(skipped) == 1 and "corrupt.wav" in skipped[0]
    assert any("stereo.wav" in s for s in set().union(*speakers.values()))
    for b in banks.values():
        assert b.sample_rate == RATE and b.audio.ndim == 2
        assert b.backgrounds.ndim == 2 and b.backgrounds.shape[1] == NUM_SAMPLES
        for text, spk, pos in zip(b.texts, b.speakers, b.positive):
            assert text == ("activate" if pos else Path(spk).stem)
        # trimmed: no long silence at the start of any word
        assert np.all(np.abs(b.audio[:, :int(0.05 * RATE)]).max(axis=1) > 0)
    # the stereo 44.1 kHz file came back mono at RATE: about 0.5 s long
    bank = next(b for b in banks.values() if "stereo.wav" in b.speakers)
    length = bank.lengths[bank.speakers.index("stereo.wav")]
    assert abs(length - 0.5 * RATE) < 0.15 * RATE

    # adding files moves none of the old ones
    rng = np.random.default_rng(1)
    for i in range(10):
        write_wav(tmp_path / "pos" / "new" / f"n{i}.wav", _word(rng, 0.3), RATE)
        write_wav(tmp_path / "neg" / f"new{i}.wav", _word(rng, 0.3), RATE)
    for split in ("train", "validation", "test"):
        again, _ = _bank(tmp_path, split)
        assert speakers[split] <= set(again.speakers)


def test_folder_bank_errors(tmp_path):
    _write_folders(tmp_path, n_bg=0)
    with pytest.raises(DataError, match="nowhere.*train"):
        tws.folder_bank("train", positives=str(tmp_path / "nowhere"),
                        negatives=str(tmp_path / "neg"), trigger="activate",
                        sample_rate=RATE, num_samples=NUM_SAMPLES, seed=0)
    # all files to train: validation has no positives
    with pytest.raises(DataError, match="validation.*positives"):
        tws.folder_bank("validation", positives=str(tmp_path / "pos"),
                        negatives=str(tmp_path / "neg"), trigger="activate",
                        sample_rate=RATE, num_samples=NUM_SAMPLES, seed=0,
                        fractions=(1.0, 0.0, 0.0))


def test_hash_split_is_stable_and_follows_fractions():
    names = [f"f{i}.wav" for i in range(2000)]
    splits = [tws.hash_split(n, 5) for n in names]
    assert splits == [tws.hash_split(n, 5) for n in names]
    assert abs(splits.count("train") / 2000 - 0.7) < 0.05
    assert splits != [tws.hash_split(n, 6) for n in names]


# -- speech_commands_bank -------------------------------------------------------------
LABELS = ["yes", "no", "_silence_", "_unknown_"]


class TinySpeechCommands(tfds.core.GeneratorBasedBuilder):
    """speech_commands' features, a few synthetic clips per split."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "audio": tfds.features.Tensor(shape=(16000,), dtype=np.int16),
            "label": tfds.features.ClassLabel(names=LABELS)}))

    def _split_generators(self, dl_manager):
        return {s: self._generate_examples(i) for i, s in
                enumerate(["train", "validation", "test"])}

    def _generate_examples(self, seed):
        rng = np.random.default_rng(seed)
        t = np.arange(16000) / 16000
        for i in range(16):
            label = i % 4
            if LABELS[label] == "_silence_":
                audio = 0.02 * rng.standard_normal(16000)
            else:
                env = (np.abs(t - 0.5) < 0.2) * 0.5
                audio = env * np.sin(2 * np.pi * (300 + 200 * label) * t)
            yield i, {"audio": np.round(audio * 32767).astype(np.int16), "label": label}


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("speech_tfds")
    TinySpeechCommands(data_dir=str(path), file_format="array_record").download_and_prepare()
    return str(path)


def test_speech_commands_bank(speech_dir):
    bank = tws.speech_commands_bank("train", trigger="yes", tfds_name="tiny_speech_commands",
                                    data_dir=speech_dir, sample_rate=RATE,
                                    num_samples=NUM_SAMPLES, seed=0)
    assert bank.sample_rate == RATE
    assert len(bank.positives) == 4 and set(np.array(bank.texts)[bank.positives]) == {"yes"}
    assert set(np.array(bank.texts)[bank.negatives]) == {"no", "_unknown_"}
    # trimmed to the 0.4 s burst, at RATE
    assert np.all(np.abs(bank.lengths - 0.4 * RATE) < 0.05 * RATE)
    # 4 one-second silence clips -> two 2-second beds
    assert bank.backgrounds.shape == (2, NUM_SAMPLES)
    small = tws.speech_commands_bank("test", trigger="yes", tfds_name="tiny_speech_commands",
                                     data_dir=speech_dir, sample_rate=RATE,
                                     num_samples=NUM_SAMPLES, seed=0, max_words=2)
    assert len(small.positives) == 2 and len(small.negatives) == 2
    assert all(s.startswith("tiny_speech_commands/test/") for s in small.speakers)


def test_speech_commands_bank_errors(speech_dir, tmp_path):
    with pytest.raises(DataError, match=r"activate.*'yes', 'no', '_silence_', '_unknown_'"):
        tws.speech_commands_bank("train", trigger="activate",
                                 tfds_name="tiny_speech_commands", data_dir=speech_dir,
                                 sample_rate=RATE, num_samples=NUM_SAMPLES, seed=0)
    with pytest.raises(DatasetNotPreparedError):
        tws.speech_commands_bank("train", trigger="yes", tfds_name="tiny_speech_commands",
                                 data_dir=str(tmp_path), sample_rate=RATE,
                                 num_samples=NUM_SAMPLES, seed=0)
    with pytest.raises(DatasetNotPreparedError):
        tws.speech_commands_bank("train", trigger="yes", tfds_name="no_such_dataset_xyz",
                                 data_dir=str(tmp_path), sample_rate=RATE,
                                 num_samples=NUM_SAMPLES, seed=0)


# -- trigger_word_dataset ---------------------------------------------------------------
@needs_espeak
def test_prepared_clips_equal_on_the_fly_clips(tmp_path):
    from jaxdl.tasks.trigger_word import dataset as twd
    from jaxdl.tasks.trigger_word.generator import render_clips, segments
    fields = dict(train_size=6, validation_size=3, test_size=3, seed=1,
                  num_positive_words=4, num_negative_words=8, seconds=3.0,
                  sample_rate=RATE, max_positives=2, max_negatives=2,
                  kinds=("white", "pink", "babble"))
    splits = twd.load_splits(data_dir=str(tmp_path), **fields)
    assert {k: len(v) for k, v in splits.items()} == {"train": 6, "validation": 3, "test": 3}
    config = twd.builder_config(**fields)
    for split in ("train", "test"):
        layouts = twd.split_layouts(config, split)
        arrays = layouts.bank.arrays()
        for i in range(len(splits[split])):
            item = splits[split][i]
            layout = layouts[i]
            expected = np.asarray(render_clips(
                {k: v[None] for k, v in layout.items()}, arrays["words"],
                arrays["backgrounds"], config.spec))[0]
            assert item["audio"].dtype == np.float32
            assert item["audio"].shape == (config.spec.num_samples,)
            np.testing.assert_allclose(item["audio"], np.clip(expected, -1, 1),
                                       atol=1 / 32767 + 1e-5)
            assert int(item["index"]) == i
            assert segments(item, RATE) == segments(layout, RATE)

    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    mtimes = [p.stat().st_mtime_ns for p in files]
    twd.prepare(data_dir=str(tmp_path), **fields)
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == files
    assert [p.stat().st_mtime_ns for p in files] == mtimes

    with pytest.raises(TypeError, match="unknown"):
        twd.builder_config(train_sise=3)
    assert twd.builder_config(**fields).name != twd.builder_config(**dict(fields, seed=2)).name
