"""The shape of the summary document (SUMMARY.json), declared in one place.

``build_summary`` (impl/report/build.py) builds one document, ``render.py`` and
``plots.py`` read it through string paths (``Doc.get("comparisons", i, "ci")``),
and it is written beside the Markdown as ``<out_name stem>.json``. These
TypedDicts declare every key of it and of its records: a key is required unless
it is declared in a ``total=False`` class, which holds the keys only some records
have (a comparison's statistics exist only when both of its cells were measured,
an answer row's winner only when two designs were).

The types are those of the written JSON (``build._jsonable``): tuples are lists,
a non-finite float is None, dictionary keys are strings.
tests/test_report_summary.py checks a written document against these classes, so
a field added to the document without being declared here fails a test.
"""

from typing import Any, TypedDict

# ---------------------------------------------------------------- cells


class MetricStats(TypedDict):
    """A time or latency metric of a cell (``stats.CellStats.to_dict`` plus ``unit``):
    the median over processes with its interval, the spread of the process values and
    the pooled tails."""

    unit: str
    metric: str
    n_processes: int
    n_blocks: int
    #: pooled per-op values (latency metrics) or blocks (block metrics)
    n_values: int
    median: float | None
    median_ci: list[float] | None
    mean: float | None
    stdev: float | None
    mad: float | None
    iqr: float | None
    min: float | None
    max: float | None
    cv: float | None
    ops_per_s: float | None
    #: "95", "99", "99.9" -> pooled percentile (None: not supported by the values)
    percentiles: dict[str, float | None]
    percentile_ci: dict[str, list[float] | None]
    tails_note: str
    value_max: float | None
    hosts: list[str]
    #: pyperf's spread rule on the process values ("" when it did not fire)
    warning: str


class RateStats(TypedDict):
    """A counter (its per-op rate) or a CPU time per op (contract.CPU_METRICS) of a cell:
    the median over processes."""

    unit: str
    per_op: float | None
    n_processes: int
    n_blocks: int


#: one entry of ``Cell.metrics``: a counter or CPU time is a RateStats, the rest MetricStats
CellMetric = MetricStats | RateStats


class BlockConditions(TypedDict):
    """An ``env.*`` metric of a cell over its measured blocks."""

    median: float
    max: float
    n_blocks: int


class MechanismPoint(TypedDict, total=False):
    """What the mechanism pass counted at a cell, per op (impl/runner/mechanism/run.py):
    the keys of the tools that ran (``skipped`` in its file says which did not)."""

    scenario: str
    params: dict[str, Any]
    ops: int
    #: marginal context switches per op in the pass's native run, per role and kind
    switches_per_op: dict[str, float]
    #: role ("loop", "submitter") -> kind -> marginal syscalls per op (perf or strace)
    syscalls_per_op: dict[str, dict[str, float]]
    #: marginal instructions per op of each pair of counted blocks (N and 2N ops: the
    #: difference over N), their mean and spread ((max - min) / mean) (callgrind)
    instructions_per_op: list[float]
    instructions: float
    instructions_spread: float
    #: what a block runs once, whatever its size (threads started and joined), instructions
    instructions_per_block: float
    #: [function, marginal inclusive instructions per op] of the first pair, largest first
    top_functions: list[list[Any]]


class _CellBase(TypedDict):
    """A planned, failed or measured cell (``doc["cells"][cell_id]``)."""

    cell_id: str
    label: str | None
    scenario: str | None
    params: dict[str, Any]
    design: str | None
    #: "ok", or crashed, timeout, bad_input, missing
    status: str
    reason: str
    returncode: int | None
    seconds: float | None
    status_text: str
    hosts: list[str]
    source_hashes: list[str]
    #: metric -> its statistics (empty unless the cell is ok)
    metrics: dict[str, CellMetric]
    conditions: dict[str, BlockConditions]
    #: the runner's quality record of the cell (its metadata's ``quality``), as recorded
    quality: dict[str, Any]


class Cell(_CellBase, total=False):
    """A cell; ``mechanism`` where the mechanism pass counted it."""

    mechanism: MechanismPoint


# ---------------------------------------------------------------- comparisons and verdicts


class _ComparisonSpec(TypedDict):
    key: str
    hypothesis: str
    a: str
    b: str
    metric: str
    each: str | None
    each_value: Any
    a_params: dict[str, Any]
    b_params: dict[str, Any]
    expect: str
    threshold: float
    #: the A/A floor of the metric's family (None: the declared threshold applies)
    floor: float | None
    threshold_eff: float | None
    where: str
    cell_a: str | None
    cell_b: str | None
    quality: list[str]
    verdict: str
    reasons: list[str]
    #: each reason's kinds by name (``hypotheses.Reason.kinds``)
    reason_kinds: list[list[str]]
    processes_needed: int | None


class Comparison(_ComparisonSpec, total=False):
    """One comparison of a hypothesis or A/A control (``doc["comparisons"][i]``). The
    optional keys are the verdicts' statistic (``effects.hodges_lehmann``): present
    only when both cells were measured."""

    n_a: int
    n_b: int
    median_a: float
    median_b: float
    #: exp(HL estimate of the log ratio a/b)
    ratio: float
    #: its interval at ``confidence``; None when no finite interval reaches the level
    ci: list[float] | None
    confidence: float
    p: float | None
    u: float | None
    significant: bool
    hosts: list[str]
    method: str
    strata: int
    paired_by_round: bool
    pct_diff: float
    pct_ci: list[float] | None
    #: max(ratio, 1/ratio) and its interval on the same scale
    factor: float
    factor_ci: list[float] | None


class HypothesisPart(TypedDict):
    verdict: str
    where: str


class CounterPair(TypedDict):
    """A declared counter at the two cells of the comparison a conclusion speaks for."""

    counter: str
    a: float | None
    b: float | None


class WhyCounted(TypedDict):
    """The counted cost that accounts for the gap between the fastest and the runner-up
    (impl/report/why.py ``explain``)."""

    #: runner-up time / fastest time
    gap: float
    #: "instructions", "syscalls", "switches", or None: nothing counted points the gap's way
    component: str | None
    fast: float | None
    slow: float | None
    #: slow / fast of the component (None when fast is 0)
    ratio: float | None
    #: the component's share of the gap, 0..1
    share: float | None
    #: "model" (the fitted cost model), "instructions" (time taken as following work) or
    #: "count" (no model, instructions do not point the gap's way: the syscall or switch
    #: count that does, without a share)
    by: str | None
    #: the share of the gap no counted cost accounts for
    left: float | None
    #: the other components whose count points the gap's way
    also: list[str]
    #: the components whose count points the other way
    against: list[str]
    #: component -> [fastest's, runner-up's] count per op, where both were counted
    compared: dict[str, list[float]]


class CostModel(TypedDict):
    """An interpreter's cost model (impl/report/why.py ``fit``): ns per instruction, per
    syscall and per voluntary context switch, its R^2 in log time over ``n`` cells."""

    ns: dict[str, float]
    r2: float
    n: int
    holds: bool
    #: why it does not hold: "fit" (too few cells, R^2), "price" (an instruction cheaper
    #: than any CPU's), None when it holds
    fails: str | None


class _RootCauseOutcome(TypedDict):
    outcome: str
    #: index into ``doc["comparisons"]``; None when no comparison was measured
    comparison: int | None
    counters: list[CounterPair]


class RootCause(_RootCauseOutcome, total=False):
    """A hypothesis's conclusion (``mechanism.root_cause``); the optional keys exist once
    a comparison was measured (``a``/``b``: once a counter differs)."""

    counter: str | None
    factor: float
    a: float | None
    b: float | None
    #: the counted cost behind that comparison (impl/report/why.py), and which side ("a" or
    #: "b") is the slower one
    why_counted: WhyCounted
    why_slower: str


class HypothesisBase(TypedDict):
    """What a hypothesis and an A/A control share (``build._hyp_doc``)."""

    id: str
    title: str
    question: str
    scenario: str
    metric: str
    a: str
    b: list[str]
    each: str | None
    params: dict[str, Any]
    a_params: dict[str, Any]
    b_params: dict[str, Any]
    expect: str
    threshold: float
    context: list[str]
    #: config ``recommend``: verdict key -> text
    recommend: dict[str, str]
    verdict: str
    reasons: list[str]
    reason_kinds: list[list[str]]
    categories: list[str]
    #: verdict -> how many of its comparisons have it
    counts: dict[str, int]
    parts: list[HypothesisPart]
    n_comparisons: int
    #: indices into ``doc["comparisons"]``
    comparisons: list[int]
    is_control: bool


class Hypothesis(HypothesisBase):
    """A declared hypothesis (``doc["hypotheses"][i]``)."""

    root_cause: RootCause


class Control(HypothesisBase):
    """An A/A control (``doc["controls"][i]``): a hypothesis's record without a
    conclusion, plus the metric family it checks."""

    family: str | None


class CalibrationEntry(TypedDict):
    """Which case of the A/A rule applied to one metric family (``doc["calibration"]``,
    ``hypotheses.Calibration.to_dict``)."""

    family: str
    status: str
    floor: float | None
    key: str | None
    hypothesis: str | None
    ratio: float | None
    ci: list[float] | None
    confidence: float | None
    n_intervals: int
    threshold: float | None
    wide: bool
    floor_over_all: bool


# ---------------------------------------------------------------- the answer and the pick


class RankedCell(TypedDict):
    label: str
    cell_id: str
    median: float


class HypothesisVerdict(TypedDict):
    id: str
    verdict: str


class PlacementRow(TypedDict):
    label: str
    primary: float
    other: float
    #: other - primary (ns)
    added: float


class Placement(TypedDict):
    """A secondary thread placement at an answer's point (``answer.secondary_placements``)."""

    placement: str
    rows: list[PlacementRow]
    min: float
    max: float


class Versus(TypedDict):
    """The fastest against another design: ratio fastest/other, speedup other/fastest."""

    label: str
    design: str | None
    ratio: float
    ci: list[float]
    speedup: float
    speedup_ci: list[float]


class WhyCounter(TypedDict):
    counter: str
    fastest: float | None
    runner_up: float | None


class _AnswerPoint(TypedDict):
    workload: str
    scenario: str
    params: dict[str, Any]
    metric: str
    ranking: list[RankedCell]
    verdicts: list[HypothesisVerdict]
    placements: list[Placement]
    #: "ok", or why there is no winner ("one design only", "no interval (...)", ...)
    status: str


class AnswerRow(_AnswerPoint, total=False):
    """One workload of config ``answer`` (``doc["answer"][i]``, ``answer.answer``); the
    optional keys exist once two designs were measured there (``why`` when ok)."""

    fastest: str
    runner_up: Versus
    threshold: float
    clear: bool
    references: list[Versus]
    why: list[WhyCounter]
    why_counted: WhyCounted


class PickRow(TypedDict):
    """A design measured at every workload: its slowdowns against each one's fastest."""

    label: str
    design: str | None
    conserves: bool | None
    slowdowns: list[float]
    worst: float
    worst_workload: str
    worst_index: int
    fastest_on: list[str]
    fastest_clear: list[str]


class _PickWorst(PickRow):
    behind: str
    ratio: float
    ci: list[float] | None
    clear: bool


class PickChoice(_PickWorst, total=False):
    """A named design (the pick, the conserving pick, a "not a safe default"): its row
    plus its worst case with the interval; ``note`` when that interval failed."""

    note: str


class Pick(TypedDict):
    """Which design to pick (``doc["pick"]``, ``pick.pick``)."""

    workloads: list[str]
    rows: list[PickRow]
    pick: PickChoice | None
    conserving_pick: PickChoice | None
    not_safe: list[PickChoice]
    unmeasured: list[str]


# ---------------------------------------------------------------- the Go study


class GoCounter(TypedDict):
    counter: str
    faster: float | None
    slower: float | None


class _GoFinding(TypedDict):
    id: str
    claim: str
    where: str
    scenario: str
    params: dict[str, Any]
    metric: str
    faster: str
    slower: str
    go_faster: float
    go_slower: float
    go_ratio: float
    #: "ok", "not measured in this run" or "no interval (...)"
    status: str


class GoRow(_GoFinding, total=False):
    """A Go finding beside this run (``doc["go"][i]``, ``reproduction.compare_with_go``);
    the optional keys exist when ``status`` is "ok"."""

    threshold: float
    ours_faster: float
    ours_slower: float
    ratio: float
    ci: list[float]
    survives: str
    mechanism: list[GoCounter]
    direction: str
    factor: float
    factor_ci: list[float]
    go_factor: float
    share_ours: float
    share_go: float
    #: index into ``mechanism`` of the counter that differs most, or None
    counter: int | None
    #: the counted cost that decides it: the one slower here (``why_slower``) against the other
    why_counted: WhyCounted
    why_slower: str


# ---------------------------------------------------------------- rankings, plots, run


class RankEntry(TypedDict):
    label: str
    cell_id: str
    median: float
    ci: list[float] | None
    vs_first: float | None


class RankPoint(TypedDict):
    scenario: str
    params: dict[str, Any]
    metric: str
    entries: list[RankEntry]


class Rankings(TypedDict):
    """``doc["rankings"]`` (``build._rankings``)."""

    points: list[RankPoint]
    #: declared points without a measured cell
    empty: list[RankPoint]
    #: measured scenarios without a declared point
    unranked: list[str]


class _PlotFile(TypedDict):
    #: relative to the report folder (what the Markdown links)
    file: str
    title: str
    scenario: str | None
    metric: str | None


class Plot(_PlotFile, total=False):
    """A plot written by ``plots.make_plots``; ``kind`` "forest" for the forest plot."""

    kind: str


class RunCondition(TypedDict):
    median: float
    max: float


class Run(TypedDict):
    """``doc["run"]``: cell counts, rows, quality totals, the machine's load, inputs."""

    n_planned: int
    n_cells: int
    n_ok: int
    n_failed: int
    #: cells whose design cannot run under their interpreter (uvloop under free-threading)
    n_not_applicable: int
    warmup_rows_dropped: int
    blocks_discarded: int
    processes_replaced: int
    blocks_under_1ms: int
    #: seconds the runner waited in all for a quiet machine before replacing disturbed
    #: processes (the cells' quality ``busy_wait_s``), and in how many measured cells
    busy_wait_s: float
    cells_busy_waited: int
    #: "loadavg", "foreign_cpu" (build.CONDITIONS without "env.")
    conditions: dict[str, RunCondition]
    rows: int
    inputs: list[str]
    n_inputs: int


class Constants(TypedDict):
    """``doc["constants"]``: the rules' constants the methodology section quotes."""

    percentile_method: str
    #: "95", "99", "99.9" (``stats.pct_key``)
    percentiles: list[str]
    confidence: float
    min_n: dict[str, int]
    max_cv: float
    max_spread: float
    min_processes: int
    min_tail_processes: int
    min_tail_blocks: int
    n_resamples: int
    cell_resamples: int
    tail_draws: int
    seed: int
    ops_per_s_numerator: float
    min_switch_intervals: int
    short_block_ns: int
    mechanism_min_rate: float
    default_threshold: float
    mechanism_min_factor: float
    instructions_repeat_bar: float
    min_ns_per_instruction: float


class Platform(TypedDict):
    """``doc["platform"]``: each field's distinct values over the measured cells' metadata
    (empty when no cell recorded it)."""

    date: list[str]
    host: list[str]
    cpu_model: list[str]
    cpu_count: list[int]
    os: list[str]
    platform: list[str]
    python_version: list[str]
    python_implementation: list[str]
    switch_interval_s: list[float]
    timer_resolution_ns: list[float]
    gc_enabled: list[bool]
    git_commit: list[str]
    git_dirty: list[bool]
    profile: list[str]
    processes: list[int]
    blocks: list[int]
    warmups: list[int]
    warmup_ms: list[float]
    target_block_ms: list[float]
    rounds: list[int]
    max_foreign_cpu: list[float]
    percentile_method: list[str]
    seed: list[int]
    snakemake_version: list[str]
    config_hash: list[str]
    switch_interval_ns: list[float]
    #: [first date, last date or date_end]; empty without dates
    date_range: list[str]


class PrintedValue(TypedDict):
    """A value printed in the Markdown and the document path it came from (``fmt``)."""

    text: str
    value: Any
    kind: str
    source: str


# ---------------------------------------------------------------- interpreters


class Interpreter(TypedDict):
    """``doc["interpreter"]`` (the primary one): as declared (impl.study.interpreters) and
    as its processes found it (the cells' metadata)."""

    name: str
    python: str
    gil: bool | None
    points: str
    primary: bool
    asks_hypotheses: bool
    #: the versions its processes reported (sys.version's first word... in full)
    versions: list[str]
    #: the GIL states its processes ran in (False: off)
    gil_enabled: list[bool]
    #: label -> why the design cannot run there
    not_applicable: dict[str, str]
    n_ok: int


class InterpreterPart(Interpreter):
    """``doc["interpreters"][i]``: another interpreter's cells and what they decide, in the
    shape of the document's own (impl/report/interpreters.py)."""

    cells: dict[str, Cell]
    comparisons: list[Comparison]
    hypotheses: list[Hypothesis]
    controls: list[Control]
    warnings: list[str]
    floors: dict[str, float]
    calibration: dict[str, CalibrationEntry]
    simultaneous_confidence: float
    n_tested: int
    answer: list[AnswerRow]
    pick: Pick
    go: list[GoRow]
    go_counts: dict[str, int]
    #: the interpreter's cost model (None: too few counted cells)
    cost_model: CostModel | None
    #: the study's hypotheses not asked of this interpreter (impl.report.interpreters.asked)
    not_asked: list[str]


class _GilRowBase(TypedDict):
    workload: str
    metric: str
    label: str
    design: str | None
    #: the medians with the GIL on and off
    on: float
    off: float
    #: median(on) / median(off) (> 1: faster without the GIL), its 95 % interval
    ratio: float | None
    ci: list[float] | None
    #: -1 / 0 / +1: the interval below 1/(1+t), within, above 1+t (effects.side)
    side: int


class GilRow(_GilRowBase, total=False):
    #: why there is no interval
    note: str


class GilChange(TypedDict):
    """``doc["gil_changes"][i]``: one binary with the GIL on and off (interpreters.gil_changes)."""

    on: str
    off: str
    python: str
    rows: list[GilRow]


class ChangedVerdict(TypedDict):
    """A hypothesis whose verdict differs between interpreters: interpreter -> verdict
    ("" for the primary one)."""

    id: str
    verdicts: dict[str, str]


# ---------------------------------------------------------------- the document


class _SummaryBody(TypedDict):
    partial: bool
    out_name: str
    json_name: str
    #: a thinned profile: the summary says "smoke run" at its top
    smoke: bool
    cells: dict[str, Cell]
    comparisons: list[Comparison]
    hypotheses: list[Hypothesis]
    controls: list[Control]
    warnings: list[str]
    alpha: float
    #: metric family -> the A/A floor, only for the miscalibrated families
    floors: dict[str, float]
    calibration: dict[str, CalibrationEntry]
    simultaneous_confidence: float
    #: m, the comparisons in the correction family
    n_tested: int
    constants: Constants
    platform: Platform
    run: Run
    label_order: list[str]
    control_labels: list[str]
    rankings: Rankings
    answer: list[AnswerRow]
    pick: Pick
    go_source: str
    go: list[GoRow]
    #: survives / reversed / not decided / not measured -> how many findings
    go_counts: dict[str, int]
    #: the primary interpreter's cost model (None: too few counted cells)
    cost_model: CostModel | None
    interpreter: Interpreter
    interpreters: list[InterpreterPart]
    gil_changes: list[GilChange]
    changed_verdicts: list[ChangedVerdict]


class Summary(_SummaryBody, total=False):
    """The summary document, SUMMARY.json. The optional keys are added last, and every
    written document has them: ``plots``/``plots_skipped`` by ``plots.make_plots`` (which
    reads the rest), ``printed`` once the Markdown is rendered."""

    plots: list[Plot]
    plots_skipped: list[str]
    printed: list[PrintedValue]
