from local_run.system import main

main()
