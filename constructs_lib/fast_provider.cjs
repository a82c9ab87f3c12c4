'use strict';
// Loaded into the jsii kernel's node process by fast_provider.py, as the main file of
// a tiny jsii package, before the provider's assembly; read that module's docstring first.
//
// @cdktf/provider-google's lib/index.js is ~1,500 lines of
//   exports.cloudRunV2Job = require("./cloud-run-v2-job");
// so loading the assembly compiles and runs ~160 MB of JavaScript for ~1,470
// resources (about 2 s) although a stack uses a handful. This loads that one file
// as getters that require a resource module the first time it is read. The jsii
// kernel finds a type by walking `exports.<namespace>.<Type>`, so it reads (and
// loads) exactly the namespaces the Python side uses. Any other file, or an index
// that is not the shape above, loads the ordinary way.

const fs = require('fs');
const Module = require('module');

const PROVIDER_INDEX = /[\\/]@cdktf[\\/]provider-google[\\/]lib[\\/]index\.js$/;
const REEXPORT = /^exports\.(\w+) = require\("(\.\/[\w-]+)"\);$/gm;

const loadJs = Module._extensions['.js'];

Module._extensions['.js'] = function loadProviderIndexLazily(module, filename) {
  if (!PROVIDER_INDEX.test(filename)) {
    return loadJs(module, filename);
  }
  const source = fs.readFileSync(filename, 'utf8');
  const reexports = [...source.matchAll(REEXPORT)];
  const requires = source.split('require(').length - 1;
  if (reexports.length === 0 || reexports.length !== requires) {
    return loadJs(module, filename); // generated differently: nothing to gain safely
  }
  Object.defineProperty(module.exports, '__esModule', { value: true });
  for (const [, name, path] of reexports) {
    Object.defineProperty(module.exports, name, {
      enumerable: true,
      configurable: true,
      get() {
        const value = module.require(path);
        Object.defineProperty(module.exports, name, { value, enumerable: true, writable: true });
        return value;
      },
    });
  }
};
