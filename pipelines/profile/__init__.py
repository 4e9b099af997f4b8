"""Household profiles (一户一档) as of a snapshot date: point-in-time inputs, members,
income, medical costs and the counts behind every index component."""
