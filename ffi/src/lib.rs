//! libcoord (to be written).
