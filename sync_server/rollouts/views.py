"""``/dashboard/rollouts``: placeholder replaced below."""
