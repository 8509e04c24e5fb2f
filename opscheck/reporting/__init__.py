"""What a run's results become: the summary, history and trends, Allure results and HTML, runbook
coverage, Prometheus metrics and pages."""
