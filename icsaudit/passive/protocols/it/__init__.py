"""IT services seen on OT networks: one small dissector module per service (see ``it_services``)."""
