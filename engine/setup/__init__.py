"""`python -m engine setup`: detect a project's ecosystem, tools and layout, and write the
marathon.yaml whose checks are the commands that project really runs.

detect.py reads the project (one module per ecosystem), probe.py runs each check once, and
write.py renders the file on the shape of the shipped default pipeline.
"""
