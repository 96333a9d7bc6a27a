"""Every `renewals` command starts a Python process: it imports what commands need, not the worker's
activities and workflows (the PDF library, the email templates, the sandbox), which cost half a second."""

import subprocess
import sys


def test_the_command_line_imports_no_activity_or_workflow_until_a_worker_starts() -> None:
    probe = (
        "import sys, starters.cli\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'activities', 'workflows', 'workers', 'fpdf'}"
        " and m != 'activities.calendar_handles' and m != 'activities')\n"
        "print(heavy)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", loaded
