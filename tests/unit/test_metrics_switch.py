"""Powertools' POWERTOOLS_METRICS_DISABLED silences the EMF lines mlaudit prints itself."""

from mlaudit import metrics


def test_metrics_disabled_prints_nothing_and_enabled_prints_emf(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics._emit({"function": "writer"}, {"events_written": ("Count", [1.0])})
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics._emit({"function": "writer"}, {"events_written": ("Count", [1.0])})
    assert '"events_written":[1.0]' in capsys.readouterr().out
