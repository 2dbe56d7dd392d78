"""What people see: live progress, the timeline report, graph pictures."""
