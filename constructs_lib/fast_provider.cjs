'use strict';
// Loaded into the jsii kernel's node process by fast_provider.py, as the main file of
// a tiny jsii package, before the provider's assembly; read that module's docstring first.
//
// The Google provider's lib/index.js (@cdktf/provider-google's and
// @cdktn/provider-google's) is ~1,500-1,850 lines of one of
//   exports.cloudRunV2Job = require("./cloud-run-v2-job");                  (cdktf's)
//   exports.cloudRunV2Job = __importStar(require("./cloud-run-v2-job/index")); (cdktn's)
// so loading the assembly compiles and runs 160-420 MB of JavaScript for every
// resource (2 s and more) although a stack uses a handful. This loads that one file
// as getters that require a resource module the first time it is read. The jsii
// kernel finds a type by walking `exports.<namespace>.<Type>`, so it reads (and
// loads) exactly the namespaces the Python side uses. Any other file, or an index
// that is not one of the shapes above, loads the ordinary way.

const fs = require('fs');
const Module = require('module');

const PROVIDER_INDEX = /[\\/]@cdk(tf|tn)[\\/]provider-google[\\/]lib[\\/]index\.js$/;
const REEXPORT = /^exports\.(\w+) = (?:require\("(\.\/[\w/-]+)"\)|__importStar\(require\("(\.\/[\w/-]+)"\)\));$/gm;

const loadJs = Module._extensions['.js'];

// TypeScript's __importStar: an ES module's exports as they are, else a namespace of them.
function importStar(mod) {
  if (mod && mod.__esModule) {
    return mod;
  }
  const namespace = {};
  for (const key of Object.getOwnPropertyNames(mod ?? {})) {
    if (key !== 'default') {
      Object.defineProperty(namespace, key, { enumerable: true, get: () => mod[key] });
    }
  }
  Object.defineProperty(namespace, 'default', { enumerable: true, value: mod });
  return namespace;
}

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
  for (const [, name, plainPath, starPath] of reexports) {
    Object.defineProperty(module.exports, name, {
      enumerable: true,
      configurable: true,
      get() {
        const value = plainPath ? module.require(plainPath) : importStar(module.require(starPath));
        Object.defineProperty(module.exports, name, { value, enumerable: true, writable: true });
        return value;
      },
    });
  }
};
