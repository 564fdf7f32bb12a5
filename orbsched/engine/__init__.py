"""The discrete-event engine (SimPy): satellites, jobs, migrations, groups, inference, faults,
the recorder, and the read-only view a policy sees.  It consumes the geometry stage's
intervals and contact plan as timed events and never propagates an orbit."""
