"""What a change of scoring or lifecycle rules would do: the stored contacts replayed under
the current and the candidate rules, compared. Pure: no store, no clock."""
