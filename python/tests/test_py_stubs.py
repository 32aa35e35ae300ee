"""The .pyi stubs name every generated class."""

from pathlib import Path

from rankscope.component import TABLE, class_name

STUBS = Path(__file__).resolve().parents[1] / "rankscope"


def test_stubs_list_every_component_and_storage_class():
    component = (STUBS / "component.pyi").read_text()
    storage = (STUBS / "storage.pyi").read_text()
    for name in TABLE:
        assert f"class {class_name(name)}(Component)" in component, name
        assert f"class {class_name(name)}Storage(Storage)" in storage, name
