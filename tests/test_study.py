"""The study model (impl.study): config.yaml read once, every fact and default defined once."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from impl.study import (
    DEFAULT_SEED,
    DEFAULT_THRESHOLD,
    ConfigError,
    Study,
    budget_designs,
    load,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_load_is_the_repository_config(raw):
    study = load()
    assert study.raw == raw
    assert study.check() is study


def test_defaults_live_in_the_study_not_in_the_schema(raw):
    """A default given twice drifts (the seed was 1 in the schema and 20260117 in the
    report): the schema declares none, the study defines each once."""
    schema = (ROOT / "workflow/schemas/config.schema.yaml").read_text()
    assert "default:" not in schema
    bare = Study({})
    assert bare.seed == DEFAULT_SEED and bare.aa_threshold == DEFAULT_THRESHOLD
    raw.pop("seed", None)
    raw["aa_control"].pop("threshold", None)
    for h in raw["hypotheses"]:
        h.pop("threshold", None)
    study = Study(raw)
    assert study.seed == DEFAULT_SEED and study.aa_threshold == DEFAULT_THRESHOLD
    assert {h.threshold for h in study.hypotheses} == {DEFAULT_THRESHOLD}
    assert {h.threshold for h in study.controls} == {DEFAULT_THRESHOLD}


def test_compare_uses_the_studys_aa_threshold():
    from impl.report import compare

    assert compare.default_threshold() == load().aa_threshold


def test_grid_declared_and_measured(raw):
    raw["profile"] = "quick"
    study = Study(raw)
    sc = next(n for n, e in raw["scenarios"].items() if "quick_grid" in e)
    assert study.grid(sc) == raw["scenarios"][sc]["grid"]
    assert study.grid(sc, measured=True) == raw["scenarios"][sc]["quick_grid"]
    raw["profile"] = "full"
    assert Study(raw).grid(sc, measured=True) == raw["scenarios"][sc]["grid"]
    assert study.grid("no_such_scenario") == {}


def test_labels_per_scenario(raw):
    """A/A controls only where they say; a budget scenario only for designs with a budget;
    a scenario's own label list restricts the rest."""
    study = Study(raw)
    controls = study.control_labels
    assert controls and all(study.labels[c].is_control for c in controls)
    for name, entry in raw["scenarios"].items():
        labels = study.labels_for(name)
        for c in controls:
            assert (c in labels) == (name in raw["implementations"][c]["scenarios"])
        if entry.get("requires") == "budget_params":
            assert {study.labels[x].design for x in labels} <= set(budget_designs())
    raw = copy.deepcopy(raw)
    raw["scenarios"]["mixed"]["labels"] = ["main"]
    assert Study(raw).labels_for("mixed") == ["main"]


def test_a_bad_section_is_one_line_naming_it(raw):
    raw["hypotheses"][0]["b"] = "nope"
    with pytest.raises(ConfigError) as info:
        Study(raw).check()
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("config hypotheses[0]") and "nope" in msg
    raw = yaml.safe_load((ROOT / "config.yaml").read_text())
    raw["profile"] = "quik"
    with pytest.raises(ConfigError, match="profile 'quik' is not defined .*'quick'"):
        Study(raw).profile  # noqa: B018 - the property raises


def test_a_profile_is_read_without_parsing_the_rest(raw):
    """The runner's --profile reads the profiles only: a broken hypothesis does not stop a
    cell measured by hand."""
    raw["hypotheses"][0]["expect"] = "bigger"
    study = Study(raw)
    assert study.presets() == raw["profiles"]
    with pytest.raises(ConfigError):
        study.check()


@pytest.mark.parametrize("seed", ["abc", -3, 1.5, True])
def test_a_bad_seed_is_one_line(raw, seed):
    raw["seed"] = seed
    with pytest.raises(ConfigError, match=r"^config: bad value .* at seed; allowed: a whole"):
        Study(raw).check()


def test_the_mechanism_pass_runs_by_default_and_a_profile_may_turn_it_off(raw):
    assert Study(raw).mechanism  # the default study explains its answer by counts
    assert not Study({**raw, "profile": "quick"}).mechanism  # the smoke run's minutes
    assert not Study({**raw, "mechanism": False}).mechanism
    bad = copy.deepcopy(raw)
    bad["profiles"]["full"]["mechanism"] = "yes"
    with pytest.raises(ConfigError, match="at profiles.full.mechanism; allowed: true, false"):
        Study(bad).mechanism  # noqa: B018 - the property raises
