//! A stand-in for nixpkgs (`fixture/nixpkgs.nix`): a flake whose
//! `lib.nixosSystem` builds fixture-shaped systems from builtins only, for a
//! flake that makes its systems with fleet's `lib.nixosConfigurations`.

use std::fs;

use camino::Utf8Path;

use crate::fixture::TOPLEVEL_BUILDER;
use crate::TestbedError;

const FLAKE: &str = include_str!("fixture/nixpkgs.nix");

/// Writes the stand-in nixpkgs flake into `dir` and returns its flake
/// reference (`path:DIR`), to pass as `--override-input nixpkgs REF`. Its
/// systems record the module files they were given in `$out/modules`.
pub fn stand_in_nixpkgs(dir: &Utf8Path) -> Result<String, TestbedError> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        fs::create_dir_all(dir)
            .and_then(|()| fs::write(&path, text))
            .map_err(|e| TestbedError::new(format!("write {path}"), e))
    };
    write("flake.nix", FLAKE)?;
    write("toplevel.sh", TOPLEVEL_BUILDER)?;
    Ok(format!("path:{dir}"))
}
