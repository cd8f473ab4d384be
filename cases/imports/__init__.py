"""Importing a bureau's existing case records from its workbooks: the sheets and their
columns (sheets.py), reading a file safely (reader.py), the engine that checks and
imports through the services (engine.py), and the workbooks it hands back (workbooks.py)."""
