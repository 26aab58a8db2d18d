"""Single-event-upset physics, exact fault injection, mitigations and campaigns."""
