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


def test_settings_stub_lists_every_setting_with_its_python_type():
    from rankscope import settings

    python_type = {"bool": "bool", "unsigned": "int", "text": "str", "list": "list[str]"}
    stub = (STUBS / "settings.pyi").read_text().splitlines()
    declared = {
        line.split(":")[0]: line.split(":", 1)[1].strip()
        for line in stub
        if ":" in line and not line.startswith((" ", "#", "def ", "class ", "from ", "import "))
    }
    for name, row in settings.TABLE.items():
        assert declared.get(name) == python_type.get(row.kind, "str"), name
    assert set(declared) - set(settings.TABLE) == {"TABLE"}
