# The benchmark's closure pair: `nix build -f pair.nix old new`.
{
  old = import ./closure.nix { spec = ./old.json; };
  new = import ./closure.nix { spec = ./new.json; };
}
