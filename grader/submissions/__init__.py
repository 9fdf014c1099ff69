"""Discover the class and locate each student's module: folders, single files, zips, notebooks.

Owns: naming students, finding the module (every form capped before it is read), archives and notebooks.
May import: grader.errors and the standard library; nothing of the other stages.
"""
