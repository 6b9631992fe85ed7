"""The daemon: the jobs on their schedules (`leadsync daemon`)."""
