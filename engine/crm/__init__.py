"""Working a bought contact: the timeline, reminders, appointments, the board and the agenda."""
