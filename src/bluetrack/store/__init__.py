"""MongoDB repositories: users, sessions, listening history, charts, songs.

``bluetrack.store.database`` opens the database and creates every repository's indexes.
Nothing is imported here, so importing one repository does not import the others.
"""
