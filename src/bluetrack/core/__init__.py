"""Pure domain logic: validation rules, throttling. Imports only the stdlib and protocol."""
