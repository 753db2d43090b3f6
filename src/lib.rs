pub mod sqlgen;
