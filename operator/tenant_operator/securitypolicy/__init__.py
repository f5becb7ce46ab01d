"""The SecurityPolicy kind: password, session, MFA and pod-security policy shared by tenants."""
