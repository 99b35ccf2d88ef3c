"""The API of working bought contacts: their timeline and reminders."""
