//! cloak-comm
