"""Keep the warehouse's storage in shape after each run: the last step of the flow."""
