"""The scope inventory: what the policy covers, and what the systems a report names are."""
