"""Alert lifecycle (pending → firing → resolved), incidents and root-cause ordering."""
