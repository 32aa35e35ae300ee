from typing import Any, NamedTuple

class Setting(NamedTuple):
    name: str
    env_var: str
    type_name: str
    default: str
    accepted: str
    doc: str
    kind: str
    choices: tuple[str, ...]

TABLE: dict[str, Setting]

def names() -> list[str]: ...
def info(name: str) -> Setting: ...
def parse() -> list[str]: ...
def reset() -> None: ...
def get_text(name: str) -> str: ...
def set_text(name: str, text: str) -> None: ...
def get(name: str) -> Any: ...
def set(name: str, value: Any) -> None: ...

enabled: bool
verbose: int
debug: bool
banner: bool
output_path: str
output_prefix: str
time_output: bool
json_output: bool
text_output: bool
hdf5_output: bool
caliper_output: bool
pstats_output: bool
trace_output: bool
flat_profile: bool
timeline_profile: bool
timeline_max_events: int
max_depth: int
precision: int
width: int
scientific: bool
collapse_threads: bool
collapse_processes: bool
components: list[str]
profile_c_calls: bool
profile_include: str
profile_exclude: str
profile_include_file: str
profile_exclude_file: str
dart_output: bool
dart_count: int
mpi_thread: bool
mpi_thread_type: str
mpi_init: bool
per_rank_max: int
rank_filter: str
per_rank_files: bool
rank_output: bool
auto_output: bool
snapshot_interval: int
snapshot_signals: bool
dump_after: int
sampler: bool
memory_builtins: bool
capture_max_calls: int
capture_max_bytes: int
perf_events: str
sampler_interval: str
