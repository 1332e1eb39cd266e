from waypoint_doctor.cli import main

main()
