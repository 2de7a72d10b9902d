"""The super-network study: ranking sets of retrained nets, the super-network benchmark (weight-sharing strategies scored by Kendall tau) and its probes."""
