"""Infrastructure of mlaudit: one module per logical unit, wired in app_stack."""
