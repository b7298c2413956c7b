//! cloak-prg
