"""Integrations with ML libraries; each needs its extra (`mlaudit-client[sklearn]`, `[mlflow]`)."""
