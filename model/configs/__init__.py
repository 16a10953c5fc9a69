"""Model configs as data (params.json format); a package so wheels ship the JSON."""
