"""A petition on the server: its tables, the service every other package calls, its SMS."""
