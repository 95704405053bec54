

def test_every_documented_parameter_exists():
    """The build does not warn about unknown parameters (``Scheduler`` documents what its
    ``**options`` takes), so this test does: a documented name is in the signature, or the
    callable takes keyword arguments."""
    wrong = {}
    for name, doc in _public_docstrings().items():
        documented = _documented(doc)
        if not documented:
            continue
        module, _, rest = name.partition(".")
        obj: Any = {"schedkit": schedkit}[module] if module == "schedkit" else None
        obj = _resolve(name)
        target = obj.__init__ if inspect.isclass(obj) else obj
        try:
            params = inspect.signature(target).parameters
        except (TypeError, ValueError):
            continue
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            params_ok = documented - set(params) <= documented
        else:
            params_ok = documented <= set(params)
        if not params_ok:
            wrong[name] = sorted(documented - set(params))
    assert wrong == {}


def _resolve(dotted: str) -> Any:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise AssertionError(dotted)
