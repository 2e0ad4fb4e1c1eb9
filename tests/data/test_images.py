"""Image files: every format Pillow opens, converted to uint8 RGB; unreadable files
skipped with a warning that names them."""

import logging

import numpy as np
import pytest
from PIL import Image

from jaxdl.data import images

GREY = (np.arange(48, dtype=np.uint8).reshape(6, 8) * 5)        # 0..235
RGB = np.stack([GREY, 255 - GREY, GREY // 2], axis=-1)


def test_image_suffixes_are_what_pillow_opens():
    s = images.image_suffixes()
    assert {".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".pbm", ".pnm", ".tif", ".bmp",
            ".gif", ".webp"} <= s
    assert ".pdf" not in s and ".txt" not in s  # Pillow writes PDF, it cannot read it


def test_pgm_binary_and_ascii_are_grey_replicated(tmp_path):
    Image.fromarray(GREY).save(tmp_path / "a.pgm")
    (tmp_path / "b.pgm").write_text("P2\n2 2\n255\n0 64\n128 255\n")
    a = images.load_image(tmp_path / "a.pgm")
    assert a.dtype == np.uint8 and a.shape == (6, 8, 3)
    for c in range(3):
        np.testing.assert_array_equal(a[..., c], GREY)
    np.testing.assert_array_equal(images.load_image(tmp_path / "b.pgm")[..., 1],
                                  [[0, 64], [128, 255]])


def test_ppm_8_and_16_bit(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "c.ppm")
    np.testing.assert_array_equal(images.load_image(tmp_path / "c.ppm"), RGB)
    # 16 bits per channel (maxval 65535): scaled down to 8 bits.
    wide = RGB.astype(">u2") * 257
    (tmp_path / "d.ppm").write_bytes(b"P6\n8 6\n65535\n" + wide.tobytes())
    np.testing.assert_array_equal(images.load_image(tmp_path / "d.ppm"), RGB)


def test_16_bit_grey_png_and_pgm_are_scaled_not_clipped(tmp_path):
    wide = GREY.astype(np.uint16) * 257                     # 8-bit values in 16 bits
    Image.fromarray(wide).save(tmp_path / "e.png")
    with Image.open(tmp_path / "e.png") as img:
        assert img.mode in ("I;16", "I")                    # what makes this a 16-bit case
    (tmp_path / "f.pgm").write_bytes(b"P5\n8 6\n65535\n" + wide.astype(">u2").tobytes())
    for name in ("e.png", "f.pgm"):
        out = images.load_image(tmp_path / name)
        assert out.dtype == np.uint8 and out.shape == (6, 8, 3), name
        np.testing.assert_array_equal(out[..., 0], GREY, err_msg=name)
        np.testing.assert_array_equal(out[..., 2], GREY, err_msg=name)


def test_palette_and_alpha_become_rgb(tmp_path):
    Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(
        tmp_path / "g.gif")
    Image.fromarray(np.dstack([RGB, np.full((6, 8), 128, np.uint8)])).save(tmp_path / "h.png")
    assert images.load_image(tmp_path / "g.gif").shape == (6, 8, 3)
    np.testing.assert_array_equal(images.load_image(tmp_path / "h.png"), RGB)
    # Resized on request, to (height, width) or a square.
    assert images.load_image(tmp_path / "h.png", (3, 4)).shape == (3, 4, 3)
    assert images.load_image(tmp_path / "g.gif", 5).shape == (5, 5, 3)


def test_unreadable_file_is_an_error_naming_it(tmp_path):
    (tmp_path / "broken.pgm").write_bytes(b"P5\n8 6\n255\n\x00")  # truncated
    with pytest.raises(images.ImageError, match="broken.pgm"):
        images.load_image(tmp_path / "broken.pgm")
    with pytest.raises(images.ImageError, match="no such file"):
        images.load_image(tmp_path / "missing.png")


def _people(root, *, broken: bool):
    for person in ("ann", "bob"):
        d = root / person
        d.mkdir(parents=True)
        Image.fromarray(GREY).save(d / "1.pgm")
        Image.fromarray(RGB).save(d / "2.ppm")
        Image.fromarray(GREY.astype(np.uint16) * 257).save(d / "3.png")
    if broken:
        (root / "bob" / "4.pgm").write_bytes(b"not an image at all")
        (root / "bob" / "notes.txt").write_text("taken 2024")
        (root / "bob" / ".DS_Store").write_bytes(b"\x00\x01")


def test_image_folder_reads_pgm_ppm_png16_and_skips_the_unreadable(tmp_path, caplog):
    _people(tmp_path, broken=True)
    with caplog.at_level(logging.WARNING, logger="jaxdl.data.images"):
        folder = images.ImageFolder(tmp_path, size=8)
    assert folder.class_names == ("ann", "bob") and len(folder) == 6
    assert folder.images.shape == (6, 8, 8, 3) and folder.images.dtype == np.uint8
    assert list(folder.labels) == [0, 0, 0, 1, 1, 1]
    skipped = sorted(p.rsplit("/", 1)[-1] for p, _ in folder.skipped)
    assert skipped == ["4.pgm", "notes.txt"]                 # hidden files ignored quietly
    for name in ("4.pgm", "notes.txt"):
        assert any(name in r.getMessage() for r in caplog.records), name


def test_list_image_files_by_pillow_and_warns_about_the_rest(tmp_path, caplog):
    _people(tmp_path, broken=True)
    # An image without a known suffix is found by its content.
    Image.fromarray(GREY).save(tmp_path / "ann" / "scan", format="PNG")
    with caplog.at_level(logging.WARNING, logger="jaxdl.data.images"):
        found = [p[len(str(tmp_path)) + 1:] for p in images.list_image_files(tmp_path)]
    assert found == ["ann/1.pgm", "ann/2.ppm", "ann/3.png", "ann/scan", "bob/1.pgm",
                     "bob/2.ppm", "bob/3.png", "bob/4.pgm"]  # 4.pgm fails later, by name
    warned = [r.getMessage() for r in caplog.records]
    assert any("notes.txt" in m for m in warned)
    assert not any(".DS_Store" in m for m in warned)
    with pytest.raises(images.ImageError, match="no such folder"):
        images.list_image_files(tmp_path / "nowhere")
