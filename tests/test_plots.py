"""Each plot writes a valid, non-empty PNG or GIF, from every kind of recording."""
import pytest
import torch

pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402  (pillow comes with matplotlib)

from deep_ei_fast import CausalPlaneRecorder  # noqa: E402
from deep_ei_fast.apps.networks import paper_network as build_network  # noqa: E402
from deep_ei_fast.plots import animate_causal_plane, plot_causal_plane, plot_measures  # noqa: E402

MEASURE = dict(samples=2000, sensitivity_samples=30, in_range=(0, 1), out_range=(0, 1), in_bins=8,
               out_bins=8, seed=0, progress=False)
STEPS = 4


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "run.csv"
    net = build_network((4, 5, 3), seed=0)
    rec = CausalPlaneRecorder(net, torch.zeros((1, 4)), path, **MEASURE)
    for epoch in range(STEPS):
        with torch.no_grad():
            net[0].weight.mul_(2.0)
        rec.record(epoch, loss=1.0 / (epoch + 1))
    return rec


def check_image(path, kind, frames=1):
    data = path.read_bytes()
    assert len(data) > 1000
    assert data.startswith(b"\x89PNG\r\n\x1a\n" if kind == "PNG" else b"GIF89a")
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == kind and image.size[0] > 100 and image.size[1] > 100
        assert getattr(image, "n_frames", 1) == frames


@pytest.mark.parametrize("source", ["recorder", "dataframe", "csv", "rows"])
def test_plane_png(recording, tmp_path, source):
    data = {"recorder": recording, "dataframe": recording.to_dataframe(), "csv": recording.path,
            "rows": recording.rows}[source]
    check_image(plot_causal_plane(data, tmp_path / "plane.png"), "PNG")
    check_image(plot_causal_plane(data, tmp_path / "rotated.png", rotated=True), "PNG")


def test_measures_png(recording, tmp_path):
    check_image(plot_measures(recording, tmp_path / "measures.png", title="t"), "PNG")


def test_gif_has_a_frame_per_step(recording, tmp_path):
    check_image(animate_causal_plane(recording.path, tmp_path / "plane.gif"), "GIF", frames=STEPS)


def test_empty_or_foreign_recordings_fail(tmp_path):
    with pytest.raises(ValueError, match="no rows"):
        plot_causal_plane([], tmp_path / "x.png")
    with pytest.raises(ValueError, match="lacks the columns"):
        plot_causal_plane([{"epoch": 0, "layer": 0}], tmp_path / "x.png")


# -- issue 21: every mark explained, legends clear of the data, labels in words --------------

def _labels(legend):
    return [text.get_text() for text in legend.get_texts()]


@pytest.mark.parametrize("rotated", [False, True])
def test_plane_legend_names_every_mark_and_sits_outside_the_axes(recording, rotated):
    from matplotlib.colors import to_rgba

    from deep_ei_fast.plane.plots import _plane_figure
    fig = _plane_figure(recording, rotated=rotated)
    ax = fig.axes[0]
    legend = ax.get_legend()
    labels = _labels(legend)
    assert labels[0] == "EI = 0 (nullcline)"
    assert [label for label in labels if label.startswith("layer ")] == ["layer 0 (Linear 4->5)",
                                                                         "layer 1 (Linear 5->3)"]
    assert labels[-2:] == ["first recorded epoch", "last recorded epoch"]
    grey = to_rgba("0.85")
    for line in ax.lines:  # a mark without a label of its own is one of a legend entry's kind
        if not line.get_label().startswith("_"):
            continue
        if line.get_marker() == "o":
            face = to_rgba(line.get_markerfacecolor())
            assert ("first recorded epoch" if face == to_rgba("white") else "last recorded epoch") in labels
        else:
            assert to_rgba(line.get_color()) == grey and any(lb.startswith("equal EI, every ") for lb in labels)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))


def test_equal_ei_lines_are_drawn_in_both_views(recording):
    from deep_ei_fast.plane.plots import _plane_figure
    for rotated in (False, True):
        labels = _labels(_plane_figure(recording, rotated=rotated).axes[0].get_legend())
        assert any(label.startswith("equal EI, every ") for label in labels), rotated


def test_measures_legend_below_the_panels_and_labels_in_words(recording):
    from deep_ei_fast.plane.plots import _measures_figure
    fig = _measures_figure(recording, labels={"loss": "training loss (squared error)"})
    legend = fig.legends[0]
    assert _labels(legend) == ["layer 0 (Linear 4->5)", "layer 1 (Linear 5->3)"]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)
    ylabels = [ax.get_ylabel() for ax in fig.axes]
    assert ylabels == ["EI (bits)", "EI_parts (bits)", "sensitivity (bits)",
                       "degeneracy = sensitivity - EI (bits)", "integration = EI - EI_parts (bits)",
                       "training loss (squared error)"]
    assert _measures_figure([dict(r, test_accuracy=0.5) for r in recording.rows]).axes[-1].get_ylabel() == \
        "test accuracy"
