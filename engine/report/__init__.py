"""What people see: live progress, the timeline report, graph pictures.

console.py   the doit reporters (MarathonReporter picks rich / plain / json; see its docstring)
events.py    the events they emit, task metadata, log tails
state.py     the running tally a live display reads without locks
live.py, plain.py, jsonl.py   one module per output mode
timeline.py  the self-contained HTML timeline (SVG Gantt chart)
lanes.py, critical.py         lane packing and the critical path it shows
session.py   the timeline of the latest run from records.db; reporter_for(state_dir)
"""
